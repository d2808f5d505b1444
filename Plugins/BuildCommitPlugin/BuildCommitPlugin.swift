import Foundation
import PackagePlugin

/// Stamps the git commit a build is made from into the target (`BuildCommit.commit`), so that
/// `cio-relay --version` and `cio_relay_build_info` name it without a file edited by hand. A build
/// without the repository's history (a container build, whose context holds no `.git`) takes the
/// commit from a file `.cio-relay-commit` in the package folder when there is one (the Dockerfile
/// writes it from a build argument), and is otherwise `unknown`.
///
/// A build command whose inputs are git's `HEAD`, index and reflog and the package's sources: it
/// runs again whenever a commit, checkout, reset or `git add` changes the former, also in a build
/// that changes no source, and whenever a source changes (a tracked file edited elsewhere, such as
/// a page of the docs, marks the build `-modified` only from the next of those). (A
/// prebuild command would not: SwiftPM runs those only when it plans the build again, which an
/// unchanged package skips, swiftlang/swift-package-manager#5476.) It rewrites the file only when
/// the stamp changed, so an unchanged commit recompiles nothing.
@main
struct BuildCommitPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let package = context.package.directoryURL
        let output = context.pluginWorkDirectoryURL.appending(path: "BuildCommit.swift")
        // The short commit, with "-modified" when tracked files differ from it.
        let script = """
            if commit=$(git -C "$1" rev-parse --short=12 HEAD 2>/dev/null); then
              git -C "$1" diff --quiet HEAD -- 2>/dev/null || commit="$commit-modified"
            else
              commit=$(tr -cd '0-9a-z-' 2>/dev/null <"$1/.cio-relay-commit" | cut -c1-40)
              [ -n "$commit" ] || commit=unknown
            fi
            text="/// The git commit this build was made from (written by BuildCommitPlugin).
            enum BuildCommit { static let commit = \\"$commit\\" }"
            [ -f "$2" ] && [ "$(cat "$2")" = "$text" ] || printf '%s\\n' "$text" > "$2"
            """
        let candidates =
            Self.gitDirectory(of: package).map { git in ["HEAD", "index", "logs/HEAD"].map { git.appending(path: $0) } } ?? [
                package.appending(path: ".cio-relay-commit")
            ]
        // Any source of the package changing also runs it again, for the "-modified" mark.
        let sources = context.package.targets.compactMap { $0.sourceModule }.flatMap { $0.sourceFiles.map(\.url) }
        return [
            .buildCommand(
                displayName: "Stamping the git commit into \(target.name)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", script, "stamp", package.path, output.path],
                inputFiles: candidates.filter { FileManager.default.fileExists(atPath: $0.path) } + sources,
                outputFiles: [output]
            )
        ]
    }

    /// The package's git directory: `.git`, or in a worktree the folder its `.git` file names.
    static func gitDirectory(of package: URL) -> URL? {
        let dotGit = package.appending(path: ".git")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dotGit.path, isDirectory: &isDirectory) else { return nil }
        if isDirectory.boolValue { return dotGit }
        guard let text = try? String(contentsOf: dotGit, encoding: .utf8), text.hasPrefix("gitdir: ") else { return nil }
        let path = text.dropFirst("gitdir: ".count).trimmingCharacters(in: .whitespacesAndNewlines)
        return path.hasPrefix("/") ? URL(fileURLWithPath: path) : package.appending(path: path)
    }
}
