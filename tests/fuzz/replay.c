/* Runs a libFuzzer harness over files without libFuzzer (gcc builds, `meson test --suite fuzz`):
 * every argument is a file, or a directory whose regular files are all run, in name order. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fuzz.h"

#define REPLAY_MAX_FILE (1 << 20)

/* Run one file; returns 0, or -1 when it cannot be read. Each input gets a buffer of exactly its
 * size so that sanitizers catch reads past the end. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open '%s'\n", path);
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size > REPLAY_MAX_FILE) {
        fprintf(stderr, "replay: cannot use '%s'\n", path);
        fclose(f);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data || fread(data, 1, size, f) != size) {
        fprintf(stderr, "replay: cannot read '%s'\n", path);
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

static int no_dots(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* Run every regular file of dir; returns how many, or -1 on an error. */
static int run_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, no_dots, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: cannot list '%s'\n", dir);
        return -1;
    }
    int count = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        int len = snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (count >= 0 && len > 0 && (size_t)len < sizeof(path) && stat(path, &st) == 0 &&
            S_ISREG(st.st_mode))
            count = run_file(path) == 0 ? count + 1 : -1;
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    int total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: no such file '%s'\n", argv[i]);
            return 1;
        }
        int n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) == 0 ? 1 : -1;
        if (n < 0)
            return 1;
        total += n;
    }
    printf("replayed %d inputs\n", total);
    /* An empty run is a misconfigured test (wrong corpus path), not a pass. */
    return total > 0 ? 0 : 1;
}
