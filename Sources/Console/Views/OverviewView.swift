import EventQueue
import Foundation
import Operations

/// `/console`: the queue at a glance, then what this process saw lately.
enum OverviewView {
    static func body(_ status: QueueStatus, activity window: ConsoleActivity.Window) -> HTML {
        let memory =
            status.redisMaxMemoryBytes > 0
            ? "\(Readable.bytes(status.redisUsedMemoryBytes)) of \(Readable.bytes(status.redisMaxMemoryBytes)) (\(status.redisUsedMemoryBytes * 100 / status.redisMaxMemoryBytes) %)"
            : "\(Readable.bytes(status.redisUsedMemoryBytes)), no maxmemory"
        let replicas = status.replicas.map { "\($0.primary): \($0.connectedReplicas)" }.joined(separator: ", ")
        let cards: HTML = """
            <div class="cards">
            \(card("Events in the stream", "\(status.streamLength.formatted())"))
            \(card("Dead letters", "\(status.deadLetters.formatted())", link: "/console/dead-letters"))
            \(card("Dedup keys", (status.dedupKeysExact ? "" : "≈ ") + status.dedupKeys.formatted()))
            \(card("Redis memory", memory + (status.redisPrimaries > 1 ? " over \(status.redisPrimaries) primaries" : "")))
            \(card("Replicas per primary", replicas + " (minimum \(status.minReplicas))"))
            </div>
            """
        let short: HTML =
            status.primariesBelowMinimum.isEmpty
            ? ""
            : """
            <p class="notice bad">■ \(status.primariesBelowMinimum.map { "\($0.primary) has \($0.connectedReplicas) connected replica(s)" }.joined(separator: "; ")), \
            fewer than CIO_RELAY_REDIS_MIN_REPLICAS=\(status.minReplicas): the events of its partitions are answered 503 until a replica is back.</p>
            """
        let groupRows: [HTML] = status.groups.map { group in
            let health = health(group)
            return """
                <tr><td>\(group.name)</td><td class="\(health.css)">\(health.label)</td><td class="num">\(group.lag)</td><td class="num">\(group.pending)</td>\
                <td class="num">\(age(group.oldestUnprocessedAgeSeconds))</td><td class="num">\(group.consumers.count)</td></tr>
                """
        }
        let empty: HTML = "<tr><td colspan=\"6\" class=\"muted\">No consumer group yet: no role has started.</td></tr>"
        var body: HTML = """
            \(short)\(cards)
            <h2>Consumer groups</h2>
            <div class="table"><table><thead><tr><th>group</th><th>state</th><th class="num">lag</th><th class="num">pending</th>\
            <th class="num">oldest unprocessed</th><th class="num">consumers</th></tr></thead>
            <tbody>\(groupRows.isEmpty ? [empty] : groupRows)</tbody></table></div>
            """
        if status.partitions.count > 1 {
            let rows: [HTML] = status.groups.flatMap { group in
                group.partitions.map { partition in
                    """
                    <tr><td>\(group.name)</td><td class="num">\(partition.partition)</td><td class="num">\(partition.lag)</td>\
                    <td class="num">\(partition.pending)</td><td class="num">\(age(partition.oldestUnprocessedAgeSeconds))</td></tr>
                    """
                }
            }
            body = """
                \(body)<h2>Partitions</h2><div class="table"><table><thead><tr><th>group</th><th class="num">partition</th><th class="num">lag</th>\
                <th class="num">pending</th><th class="num">oldest unprocessed</th></tr></thead><tbody>\(rows)</tbody></table></div>
                """
        }
        let consumers: [HTML] = status.groups.flatMap { group in
            group.consumers.map { consumer in
                """
                <tr><td>\(group.name)</td><td class="id">\(consumer.name)</td><td class="num">\(consumer.pending)</td>\
                <td class="num">\(Readable.duration(seconds: consumer.idleSeconds))</td></tr>
                """
            }
        }
        if !consumers.isEmpty {
            body = """
                \(body)<h2>Consumers</h2><div class="table"><table><thead><tr><th>group</th><th>consumer</th><th class="num">pending</th>\
                <th class="num">idle</th></tr></thead><tbody>\(consumers)</tbody></table></div>
                """
        }
        let span = window.seconds < 1 ? "since this process started" : "last \(Readable.duration(seconds: window.seconds)), this process"
        let intake = counts("Webhooks by outcome", window.intake, empty: "none received by this process")
        let track = counts("Track API answers", window.track, empty: "no Track API calls from this process")
        return "\(body)<h2>Activity (\(span))</h2><div class=\"cards\">\(intake)\(track)</div>\(forwarding(window.forward))"
    }

    /// A group's state as a word, a symbol and a colour: colour alone is never the message.
    static func health(_ group: GroupStatus) -> (label: String, css: String) {
        if group.missing { return ("■ missing", "bad") }
        let age = group.oldestUnprocessedAgeSeconds ?? 0
        if age >= 300 { return ("■ stalled", "bad") }
        if age >= 60 || group.lag >= 10_000 { return ("▲ behind", "warn") }
        return ("● ok", "ok")
    }

    private static func age(_ seconds: Double?) -> String {
        seconds.map { Readable.duration(seconds: $0) } ?? "—"
    }

    private static func card(_ label: String, _ value: String, link: String? = nil) -> HTML {
        let shown: HTML = link.map { "<a href=\"\($0)\">\(value)</a>" } ?? "\(value)"
        return "<div class=\"card\"><div class=\"label\">\(label)</div><div class=\"value\">\(shown)</div></div>"
    }

    /// One row per forwarding destination this process runs: its deliveries by outcome.
    private static func forwarding(_ counts: [String: Double]) -> HTML {
        var byDestination: [String: [String: Int]] = [:]
        for (key, value) in counts {
            let parts = key.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            byDestination[parts[0], default: [:]][parts[1]] = Int(value)
        }
        guard !byDestination.isEmpty else { return "" }
        let outcomes = ["delivered", "failed", "gave_up", "filtered"]
        let rows: [HTML] = byDestination.keys.sorted().map { destination in
            let cells: [HTML] = outcomes.map { "<td class=\"num\">\(byDestination[destination]?[$0] ?? 0)</td>" }
            return "<tr><td>\(destination)</td>\(cells)</tr>"
        }
        let headers: [HTML] = outcomes.map { "<th class=\"num\">\($0.replacingOccurrences(of: "_", with: " "))</th>" }
        return """
            <h2>Forwarding (this process)</h2><div class="table"><table><thead><tr><th>destination</th>\(headers)</tr></thead>\
            <tbody>\(rows)</tbody></table></div>
            """
    }

    private static func counts(_ title: String, _ counts: [String: Double], empty: String) -> HTML {
        let rows: [HTML] = counts.filter { $0.value > 0 }.sorted { $0.value > $1.value }.map { key, value in
            "<tr><td>\(key)</td><td class=\"num\">\(Int(value))</td></tr>"
        }
        let none: HTML = "<tr><td class=\"muted\">\(empty)</td></tr>"
        return "<div class=\"card\"><div class=\"label\">\(title)</div><table><tbody>\(rows.isEmpty ? [none] : rows)</tbody></table></div>"
    }
}
