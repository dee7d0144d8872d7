// expect: eddy: co_await needs an awaitable
#include <eddy/eddy.hpp>

eddy::task<> body() {
    co_await 42;
}
int main() {
    eddy::run(body());
}
