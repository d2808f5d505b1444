import Foundation
import RelayMetrics
import Testing

@testable import RelayApp

@Suite("Version and commit of the build")
struct BuildInfoTests {
    /// The repository's root, from this file's place in it.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theCommitIsStampedByTheBuild() throws {
        let commit = BuildInfo.commit
        let stamped = commit.wholeMatch(of: /[0-9a-f]{12}(-modified)?/) != nil
        if FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(".git").path) {
            #expect(stamped, "a build in a git checkout names its commit, not \(commit)")
        } else {
            #expect(commit == "unknown", "a build outside git says unknown, not \(commit)")
        }
        #expect(BuildInfo.description == "\(BuildInfo.version) (commit \(commit))")
    }

    @Test func theBuildInfoSeriesCarriesVersionCommitAndCompiler() {
        let exposition = MetricsExposition(definitions: [BuildInfo.definition])
        BuildInfo.record(factory: exposition.factory)
        let text = String(decoding: exposition.render(), as: UTF8.self)
        #expect(
            text.contains(
                #"cio_relay_build_info{version="\#(BuildInfo.version)",commit="\#(BuildInfo.commit)",swift_version="\#(BuildInfo.swiftVersion)"} 1"#),
            "\(text)")
    }
}
