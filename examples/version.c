/* SPDX-License-Identifier: MIT */
/*
 * The smallest program using libhybrid: prints the library's version and
 * checks that the headers and the loaded library agree.
 *
 *   cc version.c $(pkg-config --cflags --libs hybrid) -o version
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <hybrid.h>

int main(void)
{
	char headers[32];

	snprintf(headers, sizeof(headers), "%d.%d.%d", HYBRID_VERSION_MAJOR, HYBRID_VERSION_MINOR,
		 HYBRID_VERSION_PATCH);
	printf("libhybrid %s (headers %s)\n", hybrid_version(), headers);
	printf("error -EINVAL reads: %s\n", hybrid_strerror(-EINVAL));
	return strcmp(headers, hybrid_version()) ? 1 : 0;
}
