import Hiredis
import Testing

@Suite("Redis Cluster routing, without a network")
struct ClusterRoutingTests {
    static let a = ClusterEndpoint(host: "10.0.0.1", port: 7000)
    static let b = ClusterEndpoint(host: "10.0.0.2", port: 7001)

    /// A map of two primaries: slots 0…8191 on `a`, the rest on `b` (or nothing there).
    static func map(secondHalf: ClusterEndpoint? = b) throws -> ClusterSlotMap {
        func node(_ endpoint: ClusterEndpoint) -> RedisValue {
            .array([.bulkString(Array(endpoint.host.utf8)), .integer(Int64(endpoint.port)), .bulkString(Array("id".utf8))])
        }
        var ranges: [RedisValue] = [.array([.integer(0), .integer(8191), node(a)])]
        if let secondHalf { ranges.append(.array([.integer(8192), .integer(16383), node(secondHalf)])) }
        return try ClusterSlotMap(slotsReply: .array(ranges), fallbackHost: "127.0.0.1")
    }

    static func routing(slot: Int, map: ClusterSlotMap, budget: Duration = .seconds(2)) -> (ClusterRouting, ContinuousClock.Instant) {
        let now = ContinuousClock.now
        return (ClusterRouting(slot: slot, map: map, deadline: now + budget), now)
    }

    @Test func aCommandGoesToItsSlotsPrimaryAndItsAnswerIsTheCommands() throws {
        var (routing, now) = Self.routing(slot: 9000, map: try Self.map())
        #expect(routing.start() == .send(to: Self.b, asking: false, refreshMap: false))
        #expect(routing.received(.simpleString("OK"), now: now) == .done(.simpleString("OK")))
        // An ordinary error is the command's, not a redirection.
        #expect(routing.received(.error("WRONGTYPE Operation against a key"), now: now) == .done(.error("WRONGTYPE Operation against a key")))
    }

    @Test func movedFollowsTheNewOwnerAndRefreshesTheMapAskDoesNot() throws {
        var (routing, now) = Self.routing(slot: 100, map: try Self.map())
        #expect(routing.start() == .send(to: Self.a, asking: false, refreshMap: false))
        #expect(routing.received(.error("MOVED 100 10.0.0.2:7001"), now: now) == .send(to: Self.b, asking: false, refreshMap: true))
        #expect(
            routing.received(.error("ASK 100 10.0.0.3:7002"), now: now)
                == .send(to: ClusterEndpoint(host: "10.0.0.3", port: 7002), asking: true, refreshMap: false))
        // A redirection without a host means the node that answered.
        #expect(
            routing.received(.error("MOVED 100 :7005"), now: now)
                == .send(to: ClusterEndpoint(host: "10.0.0.3", port: 7005), asking: false, refreshMap: true))
    }

    @Test func endlessRedirectionsFailInsteadOfLooping() throws {
        var (routing, now) = Self.routing(slot: 100, map: try Self.map())
        _ = routing.start()
        for _ in 0..<5 {
            guard case .send = routing.received(.error("MOVED 100 10.0.0.2:7001"), now: now) else {
                Issue.record("the first five redirections are followed")
                return
            }
        }
        guard case .fail(let error) = routing.received(.error("MOVED 100 10.0.0.1:7000"), now: now) else {
            Issue.record("the sixth fails")
            return
        }
        #expect(error.message.contains("redirected 6 times"))
    }

    @Test func tryAgainClusterDownAndALostNodeWaitWithinTheDeadline() throws {
        var (routing, now) = Self.routing(slot: 100, map: try Self.map(), budget: .milliseconds(500))
        _ = routing.start()
        #expect(
            routing.received(.error("TRYAGAIN Multiple keys request during rehashing of slot"), now: now)
                == .wait(.milliseconds(50), refreshMap: false))
        #expect(routing.retry() == .send(to: Self.a, asking: false, refreshMap: false))
        #expect(routing.received(.error("CLUSTERDOWN The cluster is down"), now: now) == .wait(.milliseconds(100), refreshMap: true))
        #expect(routing.connectionFailed(RedisError(.connectionFailed, "refused"), now: now) == .wait(.milliseconds(200), refreshMap: true))
        // A promoted replica in the new map takes the command.
        let promoted = try ClusterSlotMap(
            slotsReply: .array([
                .array([.integer(0), .integer(16383), .array([.bulkString(Array("10.0.0.9".utf8)), .integer(7009)])])
            ]), fallbackHost: "x")
        #expect(
            routing.mapRefreshed(promoted, now: now) == .send(to: ClusterEndpoint(host: "10.0.0.9", port: 7009), asking: false, refreshMap: false))
        // Past the deadline the cause is the answer.
        guard case .fail(let error) = routing.connectionFailed(RedisError(.connectionLost, "reset"), now: now + .milliseconds(450)) else {
            Issue.record("no wait past the deadline")
            return
        }
        #expect(error.code == .connectionLost)
    }

    @Test func aSlotNoNodeServesAsksForTheMapThenWaits() throws {
        var (routing, now) = Self.routing(slot: 12000, map: try Self.map(secondHalf: nil))
        #expect(routing.start() == .refreshMap)
        #expect(routing.mapRefreshed(try Self.map(secondHalf: nil), now: now) == .wait(.milliseconds(50), refreshMap: true))
        #expect(routing.mapRefreshed(try Self.map(), now: now) == .send(to: Self.b, asking: false, refreshMap: false))
    }
}
