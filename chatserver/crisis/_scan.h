/* Shared by the crisis recogniser's C word passes (_scan.c, _scan_index.c, _scan_opinion.c). */
#ifndef CHATSERVER_CRISIS_SCAN_H
#define CHATSERVER_CRISIS_SCAN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#define UNKNOWN 0xFFFFFFFFu
/* A word's flags: a count (leetspeak 3, a single letter 1) and what deobfuscating could change. */
#define COUNT_MASK 0xFFFFu
#define HINT_LEET (1u << 16)   /* leetspeak inside the word */
#define HINT_INNER (1u << 17)  /* letters spelt out inside the word ("k.i.l.l") */
#define HINT_SINGLE (1u << 18) /* one letter, perhaps with spacers ("s", "s.", ".s") */
#define HINT_SPACED (1u << 19) /* two such words in a row (set here, not by a word) */
#define STACK_WORDS 64

/* One text's words' entries, gathered for a pass over them (new references). */
typedef struct {
    PyObject **entries;
    Py_ssize_t n;
    PyObject *stack[STACK_WORDS];
} Gathered;

/* The words met lately and their entries, found straight from the text's characters: most words of
 * a message were in an earlier one, and finding them here needs no str object made, hashed and
 * looked up in the dict (about two thirds of a pass's time). Direct-mapped; a slot holds its word
 * (str) and entry (bytes), both strong references (neither can refer back: no cycle). */
#define FRONT_SLOTS 4096
typedef struct {
    uint64_t hash;
    PyObject *word;
    PyObject *entry;
} FrontSlot;

FrontSlot *scan_front_new(void);
void scan_front_free(FrontSlot *front);

/* Split `text` on whitespace as `str.split()` does and gather its words' entries (from `front`,
 * then `cache`, computing the missing ones with `miss`), each checked against its counts: 0, or -1
 * with an exception and nothing held. */
int scan_gather_text(Gathered *g, FrontSlot *front, PyObject *cache, PyObject *miss, Py_ssize_t limit,
                     PyObject *text);
void scan_gathered_release(Gathered *g);
/* The next per-message stamp; when it wraps, every array in `arrays` is cleared first. */
uint32_t scan_next_stamp(uint32_t *stamp, uint32_t **arrays, const Py_ssize_t *sizes, int count);
/* A fresh array copied from packed native uint32 bytes (NULL and an exception on error). */
uint32_t *scan_copy_uints(PyObject *data, Py_ssize_t *count);
/* A fresh zeroed array of `count` (+1) uint32s (NULL and an exception on error). */
uint32_t *scan_zeros(Py_ssize_t count);

/* Reading around a match (_scan_reading.c): reading.py's `Words`, `negated` and `someone_else`. */
#define READ_NEGATED 1
#define READ_SOMEONE_ELSE 2
#define NEGATION_WORDS 3
#define SUBJECT_WORDS 6
extern const char scan_word_spans_doc[];
extern const char scan_read_around_doc[];
PyObject *scan_word_spans(PyObject *module, PyObject *text);
PyObject *scan_read_around(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

extern PyTypeObject ScannerType; /* _scan_index.c */
extern PyTypeObject WeigherType; /* _scan_opinion.c */

#endif
