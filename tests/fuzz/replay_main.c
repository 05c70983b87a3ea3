/*
 * Runs a libFuzzer target over every regular file of a corpus directory, so
 * that make fuzz-replay turns the seed corpora into regression tests under
 * ASan and UBSan with gcc, without libFuzzer.  Each input is copied into a
 * buffer of exactly its size, as libFuzzer does, so over-reads are caught.
 * Fails when the directory cannot be read or holds no input.
 */

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path, size_t size);


int
main(int argc, char **argv)
{
    int              i, n, count, failed;
    char            *path;
    size_t           len;
    struct stat      st;
    struct dirent  **names;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }

    n = scandir(argv[1], &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
        return 1;
    }

    count = 0;
    failed = 0;

    for (i = 0; i < n; i++) {
        len = strlen(argv[1]) + 1 + strlen(names[i]->d_name) + 1;
        path = failed ? NULL : malloc(len);

        if (path != NULL) {
            snprintf(path, len, "%s/%s", argv[1], names[i]->d_name);

            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                if (replay_file(path, (size_t) st.st_size) != 0) {
                    failed = 1;
                }
                count++;
            }

        } else if (!failed) {
            fprintf(stderr, "out of memory\n");
            failed = 1;
        }

        free(path);
        free(names[i]);
    }

    free(names);

    if (failed) {
        return 1;
    }

    printf("%d inputs replayed from %s\n", count, argv[1]);

    if (count == 0) {
        fprintf(stderr, "%s: no inputs\n", argv[1]);
        return 1;
    }

    return 0;
}


static int
replay_file(const char *path, size_t size)
{
    FILE     *f;
    uint8_t  *data;

    /* malloc(0) may return NULL; keep a valid pointer for empty inputs */
    data = malloc(size > 0 ? size : 1);
    if (data == NULL) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }

    f = fopen(path, "rb");
    if (f == NULL || fread(data, 1, size, f) != size) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        if (f != NULL) {
            fclose(f);
        }
        free(data);
        return -1;
    }

    fclose(f);

    LLVMFuzzerTestOneInput(data, size);

    free(data);

    return 0;
}
