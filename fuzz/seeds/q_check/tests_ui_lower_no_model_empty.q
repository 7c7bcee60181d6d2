// a file with nothing but this comment
