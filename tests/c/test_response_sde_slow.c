/* label: slow
** test_response_sde_slow.c: test_response_sde.c with a longer double
** well record and the OU SPDE pipeline from the RK4 integrator.
*/
#define RESPONSE_SDE_SLOW 1
#include "test_response_sde.c"
