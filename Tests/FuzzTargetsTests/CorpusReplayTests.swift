import Foundation
import FuzzTargets
import Testing

/// Every saved fuzz input through the same entry points the fuzzer drives, in the ordinary build:
/// the seed corpora (`Fuzz/corpus/<target>`) and every input that once broke something
/// (`Fuzz/regressions/<target>`, each named after what it broke).
@Suite("Fuzz corpora and regressions replayed")
struct CorpusReplayTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func inputs(_ kind: String, _ target: FuzzTarget) -> [URL] {
        let directory = fuzzDirectory.appendingPathComponent(kind).appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everySeedInputKeepsTheInvariants(target: FuzzTarget) throws {
        let seeds = Self.inputs("corpus", target)
        #expect(seeds.count >= 3, "the seed corpus of \(target.rawValue) is missing or nearly empty")
        for url in seeds {
            #expect(throws: Never.self, "\(url.lastPathComponent)") { try target.run(Array(try Data(contentsOf: url))) }
        }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyInputThatOnceBrokeSomethingNowKeepsTheInvariants(target: FuzzTarget) throws {
        for url in Self.inputs("regressions", target) {
            #expect(throws: Never.self, "\(url.lastPathComponent)") { try target.run(Array(try Data(contentsOf: url))) }
        }
    }
}
