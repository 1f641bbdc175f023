/* test_fragment.c -- the number's HTML: its shape, the widest values, a short buffer. */
#include "check.h"
#include "fragment.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static void test_render(void)
{
    char buf[FRAGMENT_MAX];
    int n = fragment_render(buf, sizeof buf, 17, 3, 42);
    CHECK_BYTES(buf, n, "<span class=\"number\" data-event-id=\"17-3\">42</span>");
    n = fragment_render_empty(buf, sizeof buf);
    CHECK_BYTES(buf, n, "<span class=\"number\" data-event-id=\"\">..</span>");
}

static void test_widest_fits(void)
{
    char buf[FRAGMENT_MAX];
    int n = fragment_render(buf, sizeof buf, UINT64_MAX, UINT64_MAX, INT64_MIN);
    CHECK(n > 0);
    CHECK_EQ_INT((int)strlen(buf), n);
}

static void test_short_buffer(void)
{
    char buf[16];
    CHECK_EQ_INT(fragment_render(buf, sizeof buf, 1, 1, 1), -ENOSPC);
    CHECK_EQ_INT(fragment_render_empty(buf, sizeof buf), -ENOSPC);
}

int main(void)
{
    test_render();
    test_widest_fits();
    test_short_buffer();
    CHECK_DONE();
}
