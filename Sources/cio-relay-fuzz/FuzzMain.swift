import Foundation
import FuzzTargets

/// The target libFuzzer drives, from `CIO_RELAY_FUZZ_TARGET` (`scripts/fuzz.sh` sets it).
let selectedTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["CIO_RELAY_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        fatalError("CIO_RELAY_FUZZ_TARGET must name one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return target
}()

/// libFuzzer's entry point: a broken invariant stops the run with the finding, and libFuzzer
/// saves the input that caused it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do {
        try selectedTarget.run(bytes)
    } catch {
        fatalError("\(error)")
    }
    return 0
}

#if FUZZING
    @_silgen_name("LLVMFuzzerRunDriver")
    func runLibFuzzer(
        _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    /// SwiftPM points an executable's `main` at `<module>_main`; with libFuzzer linked in, that hands
    /// the command line to libFuzzer's driver.
    @_cdecl("cio_relay_fuzz_main")
    public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var count = argc
        var arguments = argv
        return runLibFuzzer(&count, &arguments) { data, size in fuzzOneInput(data, size) }
    }
#else
    /// Without libFuzzer (an ordinary build), replays saved inputs: `cio-relay-fuzz TARGET FILE…`
    /// prints each finding and exits 1 when there was one; a crash shows as the crash itself.
    @main
    struct ReplayInputs {
        static func main() {
            let arguments = CommandLine.arguments.dropFirst()
            guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count > 1 else {
                print("usage: cio-relay-fuzz TARGET FILE…  (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
                print("Fuzzing itself needs the sanitizer build: scripts/fuzz.sh TARGET SECONDS")
                exit(64)
            }
            var findings = 0
            for path in arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else {
                    print("cannot read \(path)")
                    exit(66)
                }
                do {
                    try target.run(Array(data))
                } catch {
                    print("\(path): \(error)")
                    findings += 1
                }
            }
            print("\(arguments.count - 1) input(s), \(findings) finding(s)")
            exit(findings == 0 ? 0 : 1)
        }
    }
#endif
