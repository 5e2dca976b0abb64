# The book: `cmake --build build --target book` runs every tutorial's full mode into
# build/book/figures (the figures and tables the chapters show), then book/tools/book.py
# checks the chapters and renders them with pandoc into the static site build/book/
# (open build/book/index.html). Needs python3 and pandoc (scripts/setup.sh installs them).
find_package(Python3 COMPONENTS Interpreter)
set(KILN_BOOK_OUT ${CMAKE_BINARY_DIR}/book)
set(book_commands COMMAND ${CMAKE_COMMAND} -E make_directory ${KILN_BOOK_OUT}/figures)
# One OpenMP thread: the tutorials' tensors are small, kiln's kernels give the same
# results on any thread count, and on a busy or shared machine spinning OpenMP threads
# made the training tutorials four times slower (68 s against 18 s for chapter 10).
foreach(t ${KILN_TUTORIALS})
  list(APPEND book_commands COMMAND ${CMAKE_COMMAND} -E env OMP_NUM_THREADS=1
       $<TARGET_FILE:${t}> --out ${KILN_BOOK_OUT}/figures)
endforeach()
if(Python3_FOUND)
  add_custom_target(book
    ${book_commands}
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/book/tools/book.py build
            --out ${KILN_BOOK_OUT} --figures ${KILN_BOOK_OUT}/figures
    DEPENDS ${KILN_TUTORIALS}
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
    COMMENT "Running the tutorials and building the book into ${KILN_BOOK_OUT}"
    VERBATIM)
endif()
