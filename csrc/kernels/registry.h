// Declarations of every kernel implementation, generated from kernels.inc.
#pragma once

#include "kernels.h"

namespace fsrcnn::kernels {

#define FSRCNN_KERNEL(name, args) using name##_fn = void args;
#define FSRCNN_IMPL(name, isa) name##_fn name##_##isa;
#include "kernels.inc"
#undef FSRCNN_KERNEL
#undef FSRCNN_IMPL

}  // namespace fsrcnn::kernels
