/* test_curve.c -- a subscriber's server key files per --connect endpoint: one file for
 * all, or one per endpoint in order; any other count, an empty or too long name refused. */
#include "check.h"
#include "curve.h"

#include <errno.h>

static char out[4][CURVE_PATH_MAX];
static char err[256];

static void test_one_list_entry_per_endpoint(void)
{
    CHECK_EQ_INT(curve_server_keys_split("/k/a.pub,/k/b.pub", 2, out, err, sizeof err), 0);
    CHECK(strcmp(out[0], "/k/a.pub") == 0 && strcmp(out[1], "/k/b.pub") == 0);
}

static void test_one_file_for_all(void)
{
    CHECK_EQ_INT(curve_server_keys_split("/k/a.pub", 3, out, err, sizeof err), 0);
    CHECK(strcmp(out[0], "/k/a.pub") == 0 && strcmp(out[1], "/k/a.pub") == 0 &&
          strcmp(out[2], "/k/a.pub") == 0);
    CHECK_EQ_INT(curve_server_keys_split("/k/a.pub", 1, out, err, sizeof err), 0);
    CHECK(strcmp(out[0], "/k/a.pub") == 0);
}

static void test_none_is_curve_off(void)
{
    out[0][0] = out[1][0] = 'x';
    CHECK_EQ_INT(curve_server_keys_split("", 2, out, err, sizeof err), 0);
    CHECK(out[0][0] == '\0' && out[1][0] == '\0');
    CHECK_EQ_INT(curve_server_keys_split(NULL, 1, out, err, sizeof err), 0);
    CHECK(out[0][0] == '\0');
}

static void test_bad_lists_refused(void)
{
    err[0] = '\0';
    CHECK_EQ_INT(curve_server_keys_split("a,b", 3, out, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "2 files for 3 --connect endpoints") != NULL);
    CHECK_EQ_INT(curve_server_keys_split("a,b,c", 2, out, err, sizeof err), -EINVAL);
    CHECK_EQ_INT(curve_server_keys_split("a,b", 1, out, err, sizeof err), -EINVAL);
    CHECK_EQ_INT(curve_server_keys_split("a,", 2, out, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "file 2 is empty, in 'a,'") != NULL);
    CHECK_EQ_INT(curve_server_keys_split(",b", 2, out, err, sizeof err), -EINVAL);
    static char longer[CURVE_PATH_MAX + 8];
    memset(longer, 'k', sizeof longer - 1);
    longer[0] = ',';
    CHECK_EQ_INT(curve_server_keys_split(longer + 1, 1, out, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "too long") != NULL);
}

int main(void)
{
    test_one_list_entry_per_endpoint();
    test_one_file_for_all();
    test_none_is_curve_off();
    test_bad_lists_refused();
    return check_failures;
}
