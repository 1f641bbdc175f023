/* assets.c -- reading the web root. */
#include "assets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ASSET_MAX = 4 << 20 };

static int read_file(const char *dir, asset_t *a, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, a->file);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        snprintf(err, errlen,
                 "cannot read %s: %s (build the project so the web root holds "
                 "htmx, or set --web-root)",
                 path, strerror(e));
        return -e;
    }
    a->body = malloc(ASSET_MAX);
    a->len = a->body ? fread(a->body, 1, ASSET_MAX, f) : 0;
    int failed = a->body == NULL || ferror(f) || !feof(f);
    fclose(f);
    if (failed) {
        snprintf(err, errlen, "cannot read %s: error or larger than %d bytes", path, ASSET_MAX);
        return -EIO;
    }
    return 0;
}

int assets_load(assets_t *assets, const char *dir, char *err, size_t errlen)
{
    *assets = (assets_t){
        .page = {"/", "index.html", "text/html; charset=utf-8", NULL, 0},
        .files = {
            {"/static/htmx.min.js", "htmx.min.js", "text/javascript; charset=utf-8", NULL, 0},
            {"/static/hx-sse.min.js", "hx-sse.min.js", "text/javascript; charset=utf-8", NULL, 0},
            {"/static/shared-stream.js", "shared-stream.js", "text/javascript; charset=utf-8", NULL,
             0},
            {"/static/app.css", "app.css", "text/css; charset=utf-8", NULL, 0},
            {"/static/favicon.svg", "favicon.svg", "image/svg+xml", NULL, 0},
        }};
    int rc = read_file(dir, &assets->page, err, errlen);
    for (size_t i = 0; rc == 0 && i < sizeof assets->files / sizeof assets->files[0]; i++)
        rc = read_file(dir, &assets->files[i], err, errlen);
    if (rc < 0)
        assets_free(assets);
    return rc;
}

void assets_free(assets_t *assets)
{
    free(assets->page.body);
    assets->page.body = NULL;
    for (size_t i = 0; i < sizeof assets->files / sizeof assets->files[0]; i++) {
        free(assets->files[i].body);
        assets->files[i].body = NULL;
    }
}

const asset_t *assets_find(const assets_t *assets, const char *path)
{
    for (size_t i = 0; i < sizeof assets->files / sizeof assets->files[0]; i++) {
        if (strcmp(assets->files[i].path, path) == 0)
            return &assets->files[i];
    }
    return NULL;
}
