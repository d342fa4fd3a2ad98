/*
 * Embedding a cnnc-generated model in a plain C program.
 *
 * The model folder (here: LeNet-5 from examples/lenet.py, generated into ./model by
 *   cnnc compile examples/lenet.py --target c -o examples/embed_c/model
 * ) is just C99 sources and headers: include the header, compile the .c, link libm.
 * Nothing is allocated: the arena is a static buffer sized by LENET5_ARENA_BYTES.
 *
 *   usage: classify IMAGE.raw     (28*28 little-endian float32 pixels in [0, 1])
 *          classify               (draws a synthetic "1" instead)
 */
#include <stdint.h>
#include <stdio.h>

#include "lenet5.h"

static float image[LENET5_INPUT_0_SIZE];
static float probs[LENET5_OUTPUT_0_SIZE];
static unsigned char arena_storage[LENET5_ARENA_BYTES + CNNC_ARENA_ALIGN];

static int read_image(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return 0;
    }
    size_t got = fread(image, sizeof image[0], LENET5_INPUT_0_SIZE, f);
    fclose(f);
    return got == LENET5_INPUT_0_SIZE;
}

static void draw_one(void)
{
    /* a vertical stroke, the way a "1" looks at 28x28 */
    for (unsigned r = 4; r < 24; ++r) {
        for (unsigned c = 13; c < 16; ++c) {
            image[r * 28 + c] = 1.0f;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        if (!read_image(argv[1])) {
            fprintf(stderr, "cannot read %u float32 pixels from %s\n", (unsigned)LENET5_INPUT_0_SIZE, argv[1]);
            return 1;
        }
    } else {
        draw_one();
    }
    unsigned char *arena = arena_storage + (CNNC_ARENA_ALIGN - (uintptr_t)arena_storage % CNNC_ARENA_ALIGN) % CNNC_ARENA_ALIGN;
    cnnc_status st = lenet5_run(image, probs, arena, LENET5_ARENA_BYTES);
    if (st != CNNC_OK) {
        fprintf(stderr, "lenet5_run failed: %s\n", cnnc_status_str(st));
        return 1;
    }
    unsigned best = 0;
    for (unsigned k = 1; k < LENET5_OUTPUT_0_SIZE; ++k) {
        if (probs[k] > probs[best]) {
            best = k;
        }
    }
    printf("top class: %u (p = %.4f)\n", best, probs[best]);
    return 0;
}
