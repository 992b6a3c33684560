# Turns a file into C: `cmake -DINPUT=file -DOUTPUT=out.c -DNAME=sym -P
# embed_file.cmake` writes out.c defining
#     const unsigned char sym[];   the file's bytes, then a NUL
#     const size_t sym_len;        their count, the NUL not counted
# so that a program carries the file (a page it serves) inside it.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" digits)
math(EXPR size "${digits} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n    " bytes "${bytes}")
get_filename_component(source "${INPUT}" NAME)
file(WRITE "${OUTPUT}"
  "/* Made from ${source} by cmake/embed_file.cmake: edit that file. */\n"
  "#include <stddef.h>\n"
  "extern const unsigned char ${NAME}[];\n"
  "extern const size_t ${NAME}_len;\n"
  "const unsigned char ${NAME}[] = {\n    ${bytes}0x00};\n"
  "const size_t ${NAME}_len = ${size};\n")
