// Run-time ISA dispatch: one table of kernel pointers per ISA (kernels/isas.inc), the default chosen
// once at import from CPUID, overridable with FSRCNN_FAST_ISA=ref|sse2|avx2|neon (as libjpeg-turbo's
// JSIMD_FORCE*).
#pragma once

#include <string>
#include <vector>

#include "../kernels/registry.h"

namespace fsrcnn {

enum class Isa {
#define FSRCNN_ISA(name, folder, fallback, arch, flags, check) name,
#include "../kernels/isas.inc"
#undef FSRCNN_ISA
};

struct KernelTable {
  Isa isa;
#define FSRCNN_KERNEL(name, args) kernels::name##_fn* name;
#define FSRCNN_IMPL(name, isa)
#include "../kernels/kernels.inc"
#undef FSRCNN_KERNEL
#undef FSRCNN_IMPL
};

const char* isa_name(Isa isa);
Isa parse_isa(const std::string& name);  // throws std::invalid_argument
std::vector<Isa> supported_isas();       // what this CPU can run, most portable first
const KernelTable& kernel_table(Isa isa);  // throws std::invalid_argument if the CPU lacks it

// The table chosen at import (CPUID, then FSRCNN_FAST_ISA). init_default_isa() runs once, from
// the module's initialisation; default_table() is then a plain read.
void init_default_isa();
const KernelTable& default_table();
std::string default_isa_note();  // why this ISA (e.g. "forced by FSRCNN_FAST_ISA")

}  // namespace fsrcnn
