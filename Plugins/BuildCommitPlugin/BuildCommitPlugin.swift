import Foundation
import PackagePlugin

/// Stamps the git commit a build is made from into the target (`BuildCommit.commit`), so that
/// `cio-relay --version` and `cio_relay_build_info` name it without a file edited by hand. It runs
/// before every build and rewrites the file only when the commit changed, so an unchanged tree
/// recompiles nothing. A build without the repository's history (a container build, whose context
/// holds no `.git`) takes the commit from a file `.cio-relay-commit` in the package folder when
/// there is one (the Dockerfile writes it from a build argument), and is otherwise `unknown`.
@main
struct BuildCommitPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
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
        return [
            .prebuildCommand(
                displayName: "Stamping the git commit into \(target.name)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", script, "stamp", context.package.directoryURL.path, output.path],
                outputFilesDirectory: context.pluginWorkDirectoryURL
            )
        ]
    }
}
