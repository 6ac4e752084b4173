/* Bytes objects used as growable blocks by pcp._queue.
 *
 * A block is an exact bytes object that only the queue references (refcount
 * 1, never hashed, not tracked by the GC) whose size is its capacity while it
 * is being filled. Growing it reallocates it in place; unlike
 * _PyBytes_Resize, a failed reallocation leaves the block as it was, so no
 * accepted byte is lost when memory runs out. Sealing gives it its final
 * size before it is handed to a consumer.
 */
#ifndef PCP_BLOCK_H
#define PCP_BLOCK_H

#include <Python.h>

#define PCP_BLOCK_HEADER (offsetof(PyBytesObject, ob_sval) + 1)

/* Reallocate *pv (a block) to hold `size` bytes. 0 on success; on failure -1
   with MemoryError set and *pv unchanged. */
static int pcp_block_resize(PyObject **pv, Py_ssize_t size)
{
    PyObject *v = *pv;
    PyObject *nv;
    if (size < 0 || (size_t)size > (size_t)PY_SSIZE_T_MAX - PCP_BLOCK_HEADER) {
        PyErr_NoMemory();
        return -1;
    }
#if defined(Py_TRACE_REFS) || defined(Py_GIL_DISABLED)
    /* Debug and free-threaded builds track objects by address: copy instead. */
    nv = PyBytes_FromStringAndSize(NULL, size);
    if (nv == NULL)
        return -1;
    memcpy(PyBytes_AS_STRING(nv), PyBytes_AS_STRING(v),
           (size_t)(Py_SIZE(v) < size ? Py_SIZE(v) : size));
    Py_DECREF(v);
#else
    nv = (PyObject *)PyObject_Realloc(v, PCP_BLOCK_HEADER + (size_t)size);
    if (nv == NULL) {
        PyErr_NoMemory();
        return -1;
    }
#endif
    Py_SET_SIZE(nv, size);
    PyBytes_AS_STRING(nv)[size] = '\0';
    *pv = nv;
    return 0;
}

/* Give a block its final size `used` (<= its capacity), returning spare room
   to the allocator where it can. Never fails. */
static void pcp_block_seal(PyObject **pv, Py_ssize_t used)
{
    if (used < Py_SIZE(*pv) && pcp_block_resize(pv, used) < 0) {
        PyErr_Clear();  /* keep the spare room: the data is intact */
        Py_SET_SIZE(*pv, used);
        PyBytes_AS_STRING(*pv)[used] = '\0';
    }
}

#endif
