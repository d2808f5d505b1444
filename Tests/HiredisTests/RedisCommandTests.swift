import Testing

@_spi(Fuzzing) @testable import Hiredis

@Suite("RESP encoding of commands")
struct RedisCommandTests {
    private func text(_ command: RedisCommand) -> String {
        String(decoding: command.encoded, as: UTF8.self)
    }

    @Test func namesTextNumbersAndBytesBecomeBulkStrings() {
        let command = RedisCommand("SET", "key", RedisArgument(bytes: [0, 13, 10, 255]), 604_800, RedisArgument(bytes: []))
        let expected: [UInt8] =
            Array("*5\r\n$3\r\nSET\r\n$3\r\nkey\r\n$4\r\n".utf8) + [0, 13, 10, 255]
            + Array("\r\n$6\r\n604800\r\n$0\r\n\r\n".utf8)
        #expect(command.encoded == expected)
        #expect(command.name == "SET")
    }

    @Test func aCommandWithoutArgumentsIsAOneElementArray() {
        #expect(text(RedisCommand("PING")) == "*1\r\n$4\r\nPING\r\n")
    }

    @Test func multiByteTextIsCountedInBytes() {
        #expect(text(RedisCommand("ECHO", "é€")) == "*2\r\n$4\r\nECHO\r\n$5\r\né€\r\n")
    }

    @Test func argumentListsEncodeAsOneArgumentList() {
        let keys: [RedisArgument] = ["k1", "k2"]
        let arguments: [RedisArgument] = [RedisArgument(bytes: Array(repeating: 7, count: 300)), -12]
        let joined = RedisCommand("EVALSHA", ["abc", RedisArgument(keys.count)] + keys + arguments)
        let lists = RedisCommand(name: "EVALSHA", argumentLists: [["abc", RedisArgument(keys.count)], keys, arguments])
        #expect(lists == joined)
        #expect(text(lists).hasPrefix("*7\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n2\r\n$2\r\nk1\r\n$2\r\nk2\r\n$300\r\n"))
        #expect(text(lists).hasSuffix("\r\n$3\r\n-12\r\n"))
    }
}

@Suite("Replies read by hiredis")
struct RedisReplyReaderTests {
    @Test func repliesReadWholeOrInPiecesAreTheSame() {
        let bytes = Array("*3\r\n$1\r\na\r\n:7\r\n*-1\r\n+OK\r\n".utf8)
        let expected: [RedisValue] = [.array([.bulkString(Array("a".utf8)), .integer(7), .null]), .simpleString("OK")]
        #expect(RedisReplyReader.values(from: bytes).values == expected)
        #expect(RedisReplyReader.values(from: bytes, feedingAt: 9).values == expected)
    }

    @Test func anArrayClaimingMillionsOfElementsIsRefusedBeforeAnythingIsAllocated() {
        // Found by the reply fuzzer: hiredis 0.14 allocated 3.5 GB for this header alone.
        let read = RedisReplyReader.values(from: Array("*444444441\r\n".utf8))
        #expect(read.protocolError && read.values.isEmpty)
        #expect(!RedisReplyReader.values(from: Array("*2\r\n:1\r\n:2\r\n".utf8)).protocolError)
    }
}
