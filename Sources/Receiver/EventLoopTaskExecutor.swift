import NIOCore

/// Runs a task's jobs on one NIO event loop. A webhook request's task prefers the executor of its
/// connection's loop: it starts there without a thread switch, and when Redis answers, it resumes
/// there and writes the reply in place, instead of waking a thread of the global pool and then the
/// loop.
final class EventLoopTaskExecutor: TaskExecutor {
    private let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
