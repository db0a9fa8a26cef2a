/*
 * The verifier's hot path: how many leading entries of a page of one
 * session's chain pass every per-entry check, in one pass of C.
 *
 * Each entry must
 *   - carry the next chain_seq,
 *   - link to the hash before it (prev_hash),
 *   - hash to its stored hash: SHA-256(tag || prev_hash || chain_seq as
 *     8 bytes big-endian || record),
 *   - hold a record that ends with the session's suffix, and
 *   - have an event_type column equal to the record's top-level event_type
 *     (the text right after the record's first type key, up to the type end).
 *
 * The page stops at the first entry that fails or looks unusual (a column of
 * an unexpected type, a seq out of range): that entry and the rest are left to
 * the Python verifier (audit_svc/verify.py), which walks them one by one, names
 * the exact fault and is the reference this module is tested against.
 * Anchors, the trusted start and the chain's first entry stay in Python too.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include <openssl/evp.h>

#define DIGEST_LEN 32
#define COLUMNS 5 /* chain_seq, event_type, record, prev_hash, hash */

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
static EVP_MD *sha256_md; /* fetched once at import: a fetch per hash would cost more than the hash */
#define DIGEST_INIT(ctx) EVP_DigestInit_ex2((ctx), sha256_md, NULL)
#else
#define DIGEST_INIT(ctx) EVP_DigestInit_ex((ctx), EVP_sha256(), NULL)
#endif

typedef struct {
    Py_buffer tag;
    Py_buffer suffix;
    Py_buffer type_key;
    Py_buffer type_end;
} Page;

/* The first occurrence of needle in hay, or NULL (bytes.find's semantics). */
static const char *
find(const char *hay, Py_ssize_t hay_len, const char *needle, Py_ssize_t needle_len)
{
    if (needle_len == 0)
        return hay;
    if (hay_len < needle_len)
        return NULL;
    const char *end = hay + hay_len - needle_len;
    for (const char *at = hay; at <= end; at++) {
        at = memchr(at, needle[0], (size_t)(end - at) + 1);
        if (at == NULL)
            return NULL;
        if (memcmp(at, needle, (size_t)needle_len) == 0)
            return at;
    }
    return NULL;
}

/* The row's five columns as new references (a tuple, or an asyncpg Record). */
static int
columns_of(PyObject *row, PyObject *out[COLUMNS])
{
    if (PyTuple_Check(row)) {
        if (PyTuple_GET_SIZE(row) < COLUMNS)
            return 0;
        for (int c = 0; c < COLUMNS; c++) {
            out[c] = PyTuple_GET_ITEM(row, c);
            Py_INCREF(out[c]);
        }
        return 1;
    }
    for (int c = 0; c < COLUMNS; c++) {
        out[c] = PySequence_GetItem(row, c);
        if (out[c] == NULL) {
            PyErr_Clear();
            for (int k = 0; k < c; k++)
                Py_DECREF(out[k]);
            return 0;
        }
    }
    return 1;
}

/* 1 when the entry passes, 0 when the Python walker must look at it, -1 on an error. */
static int
entry_passes(EVP_MD_CTX *ctx, const Page *page, PyObject *col[COLUMNS], long long expected, const char *prev)
{
    PyObject *seq = col[0], *event_type = col[1], *record = col[2], *prev_hash = col[3], *hash = col[4];
    if (!PyLong_CheckExact(seq) || !PyUnicode_Check(event_type) || !PyBytes_CheckExact(record) ||
        !PyBytes_CheckExact(prev_hash) || !PyBytes_CheckExact(hash))
        return 0;
    int overflow = 0;
    long long seq_value = PyLong_AsLongLongAndOverflow(seq, &overflow);
    if (overflow || seq_value != expected || seq_value < 0)
        return 0;
    if (PyBytes_GET_SIZE(prev_hash) != DIGEST_LEN || PyBytes_GET_SIZE(hash) != DIGEST_LEN ||
        memcmp(PyBytes_AS_STRING(prev_hash), prev, DIGEST_LEN) != 0)
        return 0;

    const char *text = PyBytes_AS_STRING(record);
    Py_ssize_t text_len = PyBytes_GET_SIZE(record);
    const Py_buffer *suffix = &page->suffix;
    if (text_len < suffix->len || memcmp(text + text_len - suffix->len, suffix->buf, (size_t)suffix->len) != 0)
        return 0;

    Py_ssize_t type_len;
    const char *type_text = PyUnicode_AsUTF8AndSize(event_type, &type_len);
    if (type_text == NULL) {
        PyErr_Clear(); /* a column that is not valid text: the walker reports it */
        return 0;
    }
    const char *key = find(text, text_len, page->type_key.buf, page->type_key.len);
    if (key == NULL)
        return 0;
    const char *value = key + page->type_key.len;
    Py_ssize_t left = text_len - (value - text);
    if (left < type_len + page->type_end.len || memcmp(value, type_text, (size_t)type_len) != 0 ||
        memcmp(value + type_len, page->type_end.buf, (size_t)page->type_end.len) != 0)
        return 0;

    unsigned char seq_bytes[8];
    for (int k = 0; k < 8; k++)
        seq_bytes[k] = (unsigned char)((unsigned long long)seq_value >> (8 * (7 - k)));
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (!DIGEST_INIT(ctx) || !EVP_DigestUpdate(ctx, page->tag.buf, (size_t)page->tag.len) ||
        !EVP_DigestUpdate(ctx, prev, DIGEST_LEN) || !EVP_DigestUpdate(ctx, seq_bytes, sizeof seq_bytes) ||
        !EVP_DigestUpdate(ctx, text, (size_t)text_len) || !EVP_DigestFinal_ex(ctx, digest, &digest_len)) {
        PyErr_SetString(PyExc_RuntimeError, "SHA-256 failed in OpenSSL");
        return -1;
    }
    return digest_len == DIGEST_LEN && memcmp(digest, PyBytes_AS_STRING(hash), DIGEST_LEN) == 0;
}

static Py_ssize_t
count_passing(PyObject *rows, long long first_seq, const char *first_prev, const Page *page)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    char prev[DIGEST_LEN];
    memcpy(prev, first_prev, DIGEST_LEN);
    Py_ssize_t passed = 0;
    /* The size is read each turn: a row type's own __getitem__ could change the list. */
    for (; passed < PyList_GET_SIZE(rows); passed++) {
        PyObject *row = PyList_GET_ITEM(rows, passed), *col[COLUMNS];
        Py_INCREF(row);
        int got = columns_of(row, col);
        Py_DECREF(row);
        if (!got)
            break;
        int verdict = entry_passes(ctx, page, col, first_seq + passed, prev);
        if (verdict == 1)
            memcpy(prev, PyBytes_AS_STRING(col[4]), DIGEST_LEN);
        for (int c = 0; c < COLUMNS; c++)
            Py_DECREF(col[c]);
        if (verdict < 0)
            passed = -1;
        if (verdict != 1)
            break;
    }
    EVP_MD_CTX_free(ctx);
    return passed;
}

PyDoc_STRVAR(count_passing_doc,
"count_passing(rows, first_seq, prev_hash, tag, session_suffix, type_key, type_end) -> int\n\n"
"How many leading rows (a list of (chain_seq, event_type, record, prev_hash, hash)\n"
"rows) pass every per-entry check, starting at first_seq after prev_hash.");

static PyObject *
pagecheck_count_passing(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *rows;
    long long first_seq;
    Py_buffer prev;
    Page page;
    if (!PyArg_ParseTuple(args, "O!Ly*y*y*y*y*:count_passing", &PyList_Type, &rows, &first_seq, &prev, &page.tag,
                          &page.suffix, &page.type_key, &page.type_end))
        return NULL;
    Py_ssize_t passed = 0;
    if (prev.len != DIGEST_LEN)
        PyErr_SetString(PyExc_ValueError, "prev_hash must be 32 bytes");
    else if (page.type_key.len == 0)
        PyErr_SetString(PyExc_ValueError, "type_key must not be empty");
    else
        passed = count_passing(rows, first_seq, prev.buf, &page);
    PyBuffer_Release(&prev);
    PyBuffer_Release(&page.tag);
    PyBuffer_Release(&page.suffix);
    PyBuffer_Release(&page.type_key);
    PyBuffer_Release(&page.type_end);
    if (PyErr_Occurred())
        return NULL;
    return PyLong_FromSsize_t(passed);
}

static PyMethodDef pagecheck_methods[] = {
    {"count_passing", pagecheck_count_passing, METH_VARARGS, count_passing_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef pagecheck_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "audit_svc._pagecheck",
    .m_doc = "The audit verifier's per-entry checks over a page of rows, in C.",
    .m_size = -1,
    .m_methods = pagecheck_methods,
};

PyMODINIT_FUNC
PyInit__pagecheck(void)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha256_md == NULL) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL has no SHA-256");
        return NULL;
    }
#endif
    return PyModule_Create(&pagecheck_module);
}
