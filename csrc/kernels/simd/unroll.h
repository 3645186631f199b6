// Full unrolling of constant-trip loops over register tiles (GCC does not fully unroll nests this
// size by itself and spills the accumulators to the stack).
#ifndef FSRCNN_UNROLL
#if defined(__clang__)
#define FSRCNN_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define FSRCNN_UNROLL _Pragma("GCC unroll 16")
#else
#define FSRCNN_UNROLL
#endif
#endif
