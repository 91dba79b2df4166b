/* SPDX-License-Identifier: MIT */
/* export — placeholder until the live view lands (issue #7). */
#include <errno.h>

#include "export.h"

int hy_export_start(struct hy_engine *e)
{
	(void)e;
	return -ENOSYS;
}

void hy_export_epoch(struct hy_engine *e)
{
	(void)e;
}

void hy_export_stop(void)
{
}

void hy_export_fork_child(struct hy_engine *e)
{
	(void)e;
}

void hy_export_exit_report(struct hy_engine *e, const char *dest)
{
	(void)e;
	(void)dest;
}
