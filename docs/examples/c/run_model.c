/* Runs a model compiled by `fuser compile MODEL -o model.so` from C.
 *
 *   cc run_model.c -I. -o run_model model.so -Wl,-rpath,'$ORIGIN' -lm
 *   ./run_model [input.f32] output.f32
 *
 * The example handles models with one f32 input and one f32 output (model.h says which
 * a model has). The input is read from a file of raw little-endian floats, or, without
 * one, filled with sin(0.1 * i); the output is written the same way. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model.h"

int main(int argc, char **argv) {
    const long input_elements[] = FUSER_MODEL_INPUT_ELEMENTS;
    const long output_elements[] = FUSER_MODEL_OUTPUT_ELEMENTS;
    if (sizeof input_elements / sizeof *input_elements != 1 || sizeof output_elements / sizeof *output_elements != 1) {
        fprintf(stderr, "this example runs models with one input and one output\n");
        return 1;
    }
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s [input.f32] output.f32\n", argv[0]);
        return 1;
    }
    float *input = malloc(sizeof(float) * input_elements[0]);
    float *output = malloc(sizeof(float) * output_elements[0]);
    if (!input || !output) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    if (argc == 3) {
        FILE *f = fopen(argv[1], "rb");
        if (!f || fread(input, sizeof(float), input_elements[0], f) != (size_t)input_elements[0]) {
            fprintf(stderr, "cannot read %ld floats from %s\n", input_elements[0], argv[1]);
            return 1;
        }
        fclose(f);
    } else {
        for (long i = 0; i < input_elements[0]; i++) input[i] = sinf(0.1f * (float)i);
    }
    FUSER_MODEL_RUN(input, output);
    FILE *f = fopen(argv[argc - 1], "wb");
    if (!f || fwrite(output, sizeof(float), output_elements[0], f) != (size_t)output_elements[0]) {
        fprintf(stderr, "cannot write %s\n", argv[argc - 1]);
        return 1;
    }
    fclose(f);
    free(input);
    free(output);
    return 0;
}
