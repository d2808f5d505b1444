import Operations
import TestSupport
import Testing
import Worker

@Suite("cio-relay policy check")
struct PolicyCheckTests {
    @Test func policyCheckDescribesAValidFileAndNamesTheLineOfAnError() throws {
        let valid = try OperatorCommands.checkPolicy(path: try writeConfigFile(Policy.defaultYAML))
        #expect(valid.contains("policy OK, 5 rule(s)"))
        #expect(valid.contains("email-bounced: email/bounced → identify(") && valid.contains("; then suppress"))
        let path = try writeConfigFile("policy:\n  - metrics: [opened]\n    actions:\n      - identify: {a: $when}\n")
        #expect {
            try OperatorCommands.checkPolicy(path: path)
        } throws: { error in
            guard let failure = error as? OperationFailure else { return false }
            return failure.status == .dataError && failure.message.contains("\(path):4")
        }
        #expect(throws: OperationFailure.self) { try OperatorCommands.checkPolicy(path: "/nonexistent/policy.yaml") }
    }
}
