// expect: eddy: co_await of a function: call it
#include <eddy/eddy.hpp>

eddy::task<int> answer() {
    co_return 42;
}
eddy::task<> body() {
    const int x = co_await answer; // the call's () forgotten
    (void)x;
}
int main() {
    eddy::run(body());
}
