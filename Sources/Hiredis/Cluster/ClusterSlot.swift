/// Redis Cluster's key slots: `CRC16(key) mod 16384`, CRC16-CCITT as XMODEM (polynomial 0x1021,
/// initial value 0), hashing only the hash tag of a key that has one.
public enum ClusterSlot {
    public static let count = 16_384

    /// The slot of `key`.
    public static func of(_ key: some Collection<UInt8>) -> Int {
        Int(crc16(hashTag(of: key)) % UInt16(count))
    }

    /// The slot of `key`.
    public static func of(_ key: String) -> Int {
        of(key.utf8)
    }

    /// What Redis hashes: the part between the first `{` and the first `}` after it when that part
    /// is not empty, otherwise the whole key (`{}` hashes the whole key, as `cio:{}` shows). A view
    /// of the key, not a copy: every command a client builds goes through here.
    static func hashTag<Key: Collection<UInt8>>(of key: Key) -> Key.SubSequence {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")) else { return key[...] }
        let afterOpen = key.index(after: open)
        guard let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen else { return key[...] }
        return key[afterOpen..<close]
    }

    /// CRC16-CCITT (XMODEM), bitwise: keys are short, and the dedup script sends one key per call.
    static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }
}

/// Where a cluster sends a command instead (an error reply of a node that does not serve its slot).
public enum ClusterRedirection: Sendable, Hashable {
    /// `MOVED slot host:port`: the slot lives there now; refresh the slot map and resend.
    case moved(slot: Int, host: String, port: Int)
    /// `ASK slot host:port`: the slot is migrating; send `ASKING` and the command there, once.
    case ask(slot: Int, host: String, port: Int)
    /// `TRYAGAIN`: a multi-key command during a migration; retry shortly.
    case tryAgain
    /// `CLUSTERDOWN`: the cluster cannot serve now (a failover); retry within the deadline.
    case clusterDown

    /// The redirection an error reply asks for, or nil for any other error.
    public init?(error message: String) {
        let parts = message.split(separator: " ")
        switch parts.first {
        case "MOVED", "ASK":
            guard parts.count == 3, let slot = Int(parts[1]), (0..<ClusterSlot.count).contains(slot),
                let colon = parts[2].lastIndex(of: ":"), let port = Int(parts[2][parts[2].index(after: colon)...]),
                (1...65_535).contains(port)
            else { return nil }
            // An empty host means "the node you asked", as Redis 7 may answer behind a proxy.
            let host = String(parts[2][..<colon])
            self = parts[0] == "MOVED" ? .moved(slot: slot, host: host, port: port) : .ask(slot: slot, host: host, port: port)
        case "TRYAGAIN":
            self = .tryAgain
        case "CLUSTERDOWN":
            self = .clusterDown
        default:
            return nil
        }
    }
}
