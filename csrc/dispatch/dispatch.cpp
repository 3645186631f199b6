#include "dispatch.h"

#include <cstdlib>
#include <stdexcept>

namespace fsrcnn {
namespace {

// The targets of isas.inc's arch column: an ISA's kernels exist in this build only on its target
// (CMakeLists.txt compiles its folder only there).
namespace arch {
constexpr bool any = true;
#if defined(__x86_64__) || defined(_M_X64)
constexpr bool x86_64 = true;
#else
constexpr bool x86_64 = false;
#endif
#if defined(__aarch64__)
constexpr bool aarch64 = true;
#else
constexpr bool aarch64 = false;
#endif
}  // namespace arch

// The CPU checks isas.inc names (defined on every target: a check is only called on its own).
bool cpu_x86_avx2_fma() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

constexpr Isa kAll[] = {
#define FSRCNN_ISA(name, folder, fallback, target, flags, check) Isa::name,
#include "../kernels/isas.inc"
#undef FSRCNN_ISA
};

constexpr bool built(Isa isa) {
  switch (isa) {
#define FSRCNN_ISA(name, folder, fallback, target, flags, check) \
  case Isa::name: return arch::target;
#include "../kernels/isas.inc"
#undef FSRCNN_ISA
  }
  return false;
}

constexpr Isa fallback_of(Isa isa) {
  switch (isa) {
#define FSRCNN_ISA(name, folder, fallback, target, flags, check) \
  case Isa::name: return Isa::fallback;
#include "../kernels/isas.inc"
#undef FSRCNN_ISA
  }
  return Isa::ref;
}

// Whether isa's table may use impl's kernels: impl is isa or on its fallback chain (which ends at ref).
constexpr bool uses(Isa isa, Isa impl) {
  for (Isa i = isa;; i = fallback_of(i)) {
    if (i == impl) return true;
    if (i == Isa::ref) return false;
  }
}

bool cpu_has(Isa isa) {
  switch (isa) {
#define FSRCNN_ISA(name, folder, fallback, target, flags, check) \
  case Isa::name:                                                \
    if constexpr (arch::target) return check;                   \
    return false;
#include "../kernels/isas.inc"
#undef FSRCNN_ISA
  }
  return false;
}

// A template so that the branches for ISAs not built here are discarded, never instantiated: their
// kernels are not compiled into this build. Implementations are listed in kernels.inc from the most
// portable up, so the last one on the chain wins.
template <int kUnused = 0>
KernelTable make_table(Isa isa) {
  KernelTable t{};
  t.isa = isa;
#define FSRCNN_KERNEL(name, args)
#define FSRCNN_IMPL(name, impl_isa)                                   \
  if constexpr (built(Isa::impl_isa)) {                               \
    if (uses(isa, Isa::impl_isa)) t.name = kernels::name##_##impl_isa; \
  }
#include "../kernels/kernels.inc"
#undef FSRCNN_KERNEL
#undef FSRCNN_IMPL
  return t;
}

const KernelTable kTables[] = {
#define FSRCNN_ISA(name, folder, fallback, target, flags, check) make_table(Isa::name),
#include "../kernels/isas.inc"
#undef FSRCNN_ISA
};
const KernelTable* g_default = &kTables[0];
std::string g_note = "not initialised";

std::string isa_names() {
  std::string out;
  for (Isa isa : kAll) out += std::string(out.empty() ? "" : ", ") + isa_name(isa);
  return out;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
#define FSRCNN_ISA(name, folder, fallback, target, flags, check) \
  case Isa::name: return #name;
#include "../kernels/isas.inc"
#undef FSRCNN_ISA
  }
  return "?";
}

Isa parse_isa(const std::string& name) {
  if (name == "sse") return Isa::sse2;  // the folder's name, accepted as before
  for (Isa isa : kAll)
    if (name == isa_name(isa)) return isa;
  throw std::invalid_argument("unknown ISA '" + name + "' (expected one of " + isa_names() + ")");
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : kAll)
    if (built(isa) && cpu_has(isa)) out.push_back(isa);
  return out;
}

const KernelTable& kernel_table(Isa isa) {
  if (!built(isa) || !cpu_has(isa))
    throw std::invalid_argument(std::string("this CPU cannot run ISA '") + isa_name(isa) + "'");
  return kTables[static_cast<int>(isa)];
}

void init_default_isa() {
  // The best: the last supported ISA of the list on the longest fallback chain.
  Isa best = Isa::ref;
  auto depth = [](Isa isa) { int d = 0; for (; isa != Isa::ref; isa = fallback_of(isa)) ++d; return d; };
  for (Isa isa : supported_isas())
    if (depth(isa) >= depth(best)) best = isa;
  g_note = "best the CPU supports";
  if (const char* forced = std::getenv("FSRCNN_FAST_ISA"); forced && *forced) {
    try {
      const Isa want = parse_isa(forced);
      if (built(want) && cpu_has(want)) {
        best = want;
        g_note = "forced by FSRCNN_FAST_ISA";
      } else {
        g_note = std::string("FSRCNN_FAST_ISA=") + forced + " is not supported by this CPU; using the best it supports";
      }
    } catch (const std::invalid_argument&) {
      g_note = std::string("FSRCNN_FAST_ISA=") + forced + " is not an ISA name (" + isa_names() + "); ignored";
    }
  }
  g_default = &kTables[static_cast<int>(best)];
}

const KernelTable& default_table() { return *g_default; }
std::string default_isa_note() { return g_note; }

}  // namespace fsrcnn
