# ctest script: runs the blocking_the_loop example in debug mode (EDDY_DEBUG=1) and checks that
# eddy's slow-step report names the task and the exact line of the await before the blocking
# call (the line marked "names this line" in the source), as issue 9 asks.
#   cmake -DEXE=<binary> -DSRC=<blocking_the_loop.cpp> -P check_debug_report.cmake
set(ENV{EDDY_DEBUG} 1)
# Scale 0.1: the 2 s blocking call takes 200 ms, over the default 100 ms threshold.
execute_process(COMMAND "${EXE}" --scale 0.1
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the example failed (${rc}):\n${out}\n${err}")
endif()
file(READ "${SRC}" content)
string(FIND "${content}" "names this line" pos)
if(pos LESS 0)
    message(FATAL_ERROR "marker not found in ${SRC}")
endif()
string(SUBSTRING "${content}" 0 ${pos} prefix)
string(REGEX MATCHALL "\n" newlines "${prefix}")
list(LENGTH newlines n)
math(EXPR line "${n} + 1")
set(expected "task 'worker' blocked the loop for [0-9]+ ms after resuming at [^\n]*blocking_the_loop\\.cpp:${line} in [^\n]*worker")
if(NOT err MATCHES "${expected}")
    message(FATAL_ERROR "no report naming blocking_the_loop.cpp:${line}; stderr was:\n${err}")
endif()
# B awaits eddy::sleep instead: nothing of the worker may be reported there.
string(REGEX MATCHALL "task 'worker' blocked the loop" reports "${err}")
list(LENGTH reports count)
if(NOT count EQUAL 1)
    message(FATAL_ERROR "expected exactly one report (scenario A), got ${count}:\n${err}")
endif()
message(STATUS "debug report names blocking_the_loop.cpp:${line}")
