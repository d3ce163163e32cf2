/*
 * tinygen's instruction counter: a QEMU TCG plugin (API version 1, QEMU 7.2).
 *
 * Counts every guest instruction executed (an inline add on each instruction, so the count is
 * exact and the same on every run) and, each time execution reaches one of the marker
 * addresses, records which marker and the number of instructions executed before it. The
 * firmware calls empty noinline marker functions around each inference and between layers;
 * the host turns consecutive records into per-inference and per-layer counts.
 *
 * Arguments: marks=<hex addr>[:<hex addr>...] (the markers, in order: a record names the
 * marker by its index in this list) and out=<file> (one "<marker index> <count>" line per
 * record, then "total <count>", written when QEMU exits). Assumes one vCPU.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_plugin_api.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define MAX_MARKS 16

static uint64_t executed;
static uint64_t mark_addresses[MAX_MARKS];
static size_t mark_count;
static FILE *out;

static void on_mark(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    fprintf(out, "%zu %" PRIu64 "\n", (size_t)(uintptr_t)userdata, executed);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    const size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint64_t vaddr = qemu_plugin_insn_vaddr(insn);
        for (size_t m = 0; m < mark_count; m++) {
            if (vaddr == mark_addresses[m]) {
                /* Every instruction gets the same callbacks in the same order, so two records
                 * differ by exactly the instructions executed between the two markers. */
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS,
                                                       (void *)(uintptr_t)m);
            }
        }
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
    }
}

static void on_qemu_exit(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    fprintf(out, "total %" PRIu64 "\n", executed);
    fclose(out);
}

static int parse_marks(char *list)
{
    for (char *item = strtok(list, ":"); item != NULL; item = strtok(NULL, ":")) {
        if (mark_count == MAX_MARKS) {
            return -1;
        }
        char *end;
        mark_addresses[mark_count++] = strtoull(item, &end, 16);
        if (*end != '\0') {
            return -1;
        }
    }
    return 0;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv)
{
    (void)info;
    const char *out_path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "marks=", 6) == 0) {
            if (parse_marks(argv[i] + 6) != 0) {
                fprintf(stderr, "tg_icount: bad marks argument '%s'\n", argv[i]);
                return -1;
            }
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            out_path = argv[i] + 4;
        } else {
            fprintf(stderr, "tg_icount: unknown argument '%s'\n", argv[i]);
            return -1;
        }
    }
    if (out_path == NULL) {
        fprintf(stderr, "tg_icount: missing out=<file>\n");
        return -1;
    }
    out = fopen(out_path, "w");
    if (out == NULL) {
        fprintf(stderr, "tg_icount: cannot write %s\n", out_path);
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
    return 0;
}
