/* label: slow
** test_response_slow.c: test_response.c with a longer OU SPDE record
** (32 members x 2000 frames) and absolute error bounds.
*/
#define RESPONSE_SLOW 1
#include "test_response.c"
