/* The libFuzzer entry point every harness defines; replay.c calls it for gcc builds. */
#ifndef KHO_FUZZ_H
#define KHO_FUZZ_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop with a crash the fuzzer reports when a parser breaks one of its promises. */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

#endif
