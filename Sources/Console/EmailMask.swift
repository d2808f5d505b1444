/// Hides email addresses on console pages unless the viewer asks to see them: `jane.doe@example.com`
/// becomes `j•••@e•••.com`, enough to tell two people apart, not to write to them.
public enum EmailMask {
    public static func mask(_ text: String) -> String {
        text.replacing(/[A-Za-z0-9._%+\-]+@([A-Za-z0-9\-]+\.)+[A-Za-z]{2,}/) { match in
            let address = String(match.output.0)
            guard let at = address.firstIndex(of: "@"), let dot = address.lastIndex(of: ".") else { return address }
            let local = address[..<at]
            let domain = address[address.index(after: at)..<dot]
            return "\(local.prefix(1))•••@\(domain.prefix(1))•••\(address[dot...])"
        }
    }
}
