"""The UWS 1.1 domain: phases and their transitions, jobs, results and errors, principals, documents. No I/O."""
