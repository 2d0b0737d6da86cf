<?php
// The backend's hostname comes from its own UTS namespace, so each web says who it is.
header('Content-Type: text/plain');
printf("Hello from PHP on %s\nserved-by=%s\ntime=%s\n", gethostname(), gethostname(), date('c'));
