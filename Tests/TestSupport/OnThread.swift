import Foundation

/// Runs blocking work (socket calls, sleeps) on a thread of its own and awaits it, so an async test never blocks
/// the cooperative pool, which on a 2-core machine has two threads that the server's async responders need too.
package func onThread<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
