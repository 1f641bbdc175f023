/* test_sse.c -- SSE framing: fields, multi-line data, comments, retry. */
#include "check.h"
#include "sse.h"

#include <errno.h>

static void test_frame(void)
{
    char buf[256];
    int n = sse_frame_encode(buf, sizeof buf, &(sse_event_t){"17-3", "number", NULL, "42", 2});
    CHECK_BYTES(buf, n, "id: 17-3\nevent: number\ndata: 42\n\n");
    n = sse_frame_encode(buf, sizeof buf, &(sse_event_t){NULL, NULL, NULL, "x", 1});
    CHECK_BYTES(buf, n, "data: x\n\n");
    n = sse_frame_encode(buf, sizeof buf, &(sse_event_t){"1-1", "number", "t=99", "5", 1});
    CHECK_BYTES(buf, n, "id: 1-1\nevent: number\n: t=99\ndata: 5\n\n");
}

static void test_multiline_data(void)
{
    char buf[256];
    const char data[] = "a\nb\r\nc\rd";
    int n =
        sse_frame_encode(buf, sizeof buf, &(sse_event_t){NULL, "e", NULL, data, sizeof data - 1});
    CHECK_BYTES(buf, n, "event: e\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
    n = sse_frame_encode(buf, sizeof buf, &(sse_event_t){NULL, NULL, NULL, "", 0});
    CHECK_BYTES(buf, n, "data: \n\n");
    n = sse_frame_encode(buf, sizeof buf, &(sse_event_t){NULL, NULL, NULL, "a\n", 2});
    CHECK_BYTES(buf, n, "data: a\ndata: \n\n");
}

static void test_refuses_line_breaks_in_fields(void)
{
    char buf[64];
    CHECK_EQ_INT(sse_frame_encode(buf, sizeof buf, &(sse_event_t){"1\n2", NULL, NULL, "x", 1}),
                 -EINVAL);
    CHECK_EQ_INT(sse_frame_encode(buf, sizeof buf, &(sse_event_t){NULL, "a\rb", NULL, "x", 1}),
                 -EINVAL);
    CHECK_EQ_INT(sse_frame_encode(buf, sizeof buf, &(sse_event_t){NULL, NULL, "c\n", "x", 1}),
                 -EINVAL);
}

static void test_overflow(void)
{
    char buf[12];
    CHECK_EQ_INT(sse_frame_encode(buf, sizeof buf, &(sse_event_t){"1-1", "number", NULL, "42", 2}),
                 -ENOSPC);
    CHECK_EQ_INT(sse_comment_encode(buf, 4, "heartbeat"), -ENOSPC);
    CHECK_EQ_INT(sse_retry_encode(buf, 5, 2000), -ENOSPC);
}

static void test_comment_and_retry(void)
{
    char buf[64];
    int n = sse_comment_encode(buf, sizeof buf, "hi\nthere");
    CHECK_BYTES(buf, n, ": hi\n: there\n\n");
    n = sse_retry_encode(buf, sizeof buf, 2500);
    CHECK_BYTES(buf, n, "retry: 2500\n\n");
}

int main(void)
{
    test_frame();
    test_multiline_data();
    test_refuses_line_breaks_in_fields();
    test_overflow();
    test_comment_and_retry();
    CHECK_DONE();
}
