/* assets.h -- the web files the gateway serves, read once at start-up into memory so a
 * request never touches the disk and a missing file stops the gateway at once. */
#ifndef GATEWAY_ASSETS_H
#define GATEWAY_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *path; /* URL path, "/static/htmx.min.js" */
    const char *file; /* name inside the web root */
    const char *content_type;
    char *body;
    size_t len;
} asset_t;

typedef struct {
    asset_t page; /* index.html: the page template, not served as a file */
    asset_t files[5];
} assets_t;

/* Reads every asset from dir. Returns 0, or -errno with the missing file named in err. */
int assets_load(assets_t *assets, const char *dir, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void assets_free(assets_t *assets);

/* The static file served at path, or NULL. */
const asset_t *assets_find(const assets_t *assets, const char *path);

#endif
