"""Imported last by the flow runs' forkserver (stack/warm_start.py): its import freezes the heap.

A flow run forked from the server shares the server's memory until it writes to it. The garbage
collector's first full pass in the run would visit, and so write to, every object the imports made,
and the run would copy all of their pages. Frozen, those objects are never visited again.
"""

import gc

gc.freeze()
