"""RQ queues and job functions. Jobs are thin: they fetch this process's services and call them."""
