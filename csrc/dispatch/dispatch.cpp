#include "dispatch.h"

#include <cstdlib>
#include <stdexcept>

namespace fsrcnn {
namespace {

bool cpu_has(Isa isa) {
  switch (isa) {
    case Isa::ref: return true;
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::sse2: return true;  // part of x86-64
    case Isa::avx2:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    default: return false;
  }
}

KernelTable make_table(Isa isa) {
  KernelTable t{};
  t.isa = isa;
#define FSRCNN_KERNEL(name, args)
#define FSRCNN_IMPL(name, impl_isa) \
  if (Isa::impl_isa <= isa) t.name = kernels::name##_##impl_isa;
#include "../kernels/kernels.inc"
#undef FSRCNN_KERNEL
#undef FSRCNN_IMPL
  return t;
}

const KernelTable kTables[] = {make_table(Isa::ref), make_table(Isa::sse2), make_table(Isa::avx2)};
const KernelTable* g_default = &kTables[0];
std::string g_note = "not initialised";

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::ref: return "ref";
    case Isa::sse2: return "sse2";
    case Isa::avx2: return "avx2";
  }
  return "?";
}

Isa parse_isa(const std::string& name) {
  if (name == "ref") return Isa::ref;
  if (name == "sse" || name == "sse2") return Isa::sse2;
  if (name == "avx2") return Isa::avx2;
  throw std::invalid_argument("unknown ISA '" + name + "' (expected ref, sse2 or avx2)");
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::ref, Isa::sse2, Isa::avx2})
    if (cpu_has(isa)) out.push_back(isa);
  return out;
}

const KernelTable& kernel_table(Isa isa) {
  if (!cpu_has(isa)) throw std::invalid_argument(std::string("this CPU cannot run ISA '") + isa_name(isa) + "'");
  return kTables[static_cast<int>(isa)];
}

void init_default_isa() {
  Isa best = supported_isas().back();
  g_note = "best the CPU supports";
  if (const char* forced = std::getenv("FSRCNN_FAST_ISA"); forced && *forced) {
    try {
      const Isa want = parse_isa(forced);
      if (cpu_has(want)) {
        best = want;
        g_note = "forced by FSRCNN_FAST_ISA";
      } else {
        g_note = std::string("FSRCNN_FAST_ISA=") + forced + " is not supported by this CPU; using the best it supports";
      }
    } catch (const std::invalid_argument&) {
      g_note = std::string("FSRCNN_FAST_ISA=") + forced + " is not an ISA name (ref, sse2, avx2); ignored";
    }
  }
  g_default = &kTables[static_cast<int>(best)];
}

const KernelTable& default_table() { return *g_default; }
std::string default_isa_note() { return g_note; }

}  // namespace fsrcnn
