import CustomerIO
import Foundation

/// How rows travel in insertAll requests.
public enum BigQueryRowFormat {
    /// One insertAll row: `{"insertId":…,"json":{…}}`.
    public static func item(insertID: String?, json: JSONValue) -> [UInt8] {
        var members: [String: JSONValue] = ["json": json]
        if let insertID { members["insertId"] = .string(insertID) }
        return JSONValue.object(members).serialized()
    }

    /// The row's columns as insertAll's JSON: TIMESTAMPs as RFC 3339 with `Z` (BigQuery reads a
    /// number as seconds, the emulator as microseconds), the payload as a JSON string, NULLs left out.
    public static func json(of row: WarehouseRow, ingestedAt: String) -> JSONValue {
        var columns: [String: JSONValue] = ["ingested_at": .string(ingestedAt)]
        for (column, value) in zip(WarehouseRow.columns, row.values) {
            switch (column.kind, value) {
            case (_, .text(nil)), (_, .integer(nil)): continue
            // A time BigQuery cannot hold (a hostile payload's) goes as the number: BigQuery refuses
            // that row alone as invalid, and its event is dead-lettered with the reason.
            case (.seconds, .integer(let seconds?)):
                columns[column.name] = .string(timestamp(seconds: seconds) ?? String(seconds))
            case (.milliseconds, .integer(let milliseconds?)):
                columns[column.name] = .string(timestamp(milliseconds: milliseconds) ?? String(milliseconds))
            // INT64 as a string: exact beyond 2^53, which a JSON number is not.
            case (_, .integer(let number?)): columns[column.name] = .string(String(number))
            case (_, .text(let text?)): columns[column.name] = .string(text)
            }
        }
        return .object(columns)
    }

    /// The range of BigQuery's TIMESTAMP: 0001-01-01 to 9999-12-31, in seconds.
    static let timestampRange: ClosedRange<Int64> = -62_135_596_800...253_402_300_799

    /// `2026-01-01T00:00:00Z`, in UTC; nil outside what BigQuery can hold.
    public static func timestamp(seconds: Int64) -> String? {
        guard timestampRange.contains(seconds) else { return nil }
        return format(seconds: seconds, milliseconds: nil)
    }

    /// `2026-01-01T00:00:00.123Z`, in UTC; nil outside what BigQuery can hold.
    public static func timestamp(milliseconds: Int64) -> String? {
        let (seconds, remainder) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        let whole = remainder < 0 ? seconds - 1 : seconds
        guard timestampRange.contains(whole) else { return nil }
        return format(seconds: whole, milliseconds: remainder < 0 ? remainder + 1000 : remainder)
    }

    private static func format(seconds: Int64, milliseconds: Int64?) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let text =
            "\(pad(Int64(parts.tm_year) + 1900, 4))-\(pad(Int64(parts.tm_mon) + 1, 2))-\(pad(Int64(parts.tm_mday), 2))"
            + "T\(pad(Int64(parts.tm_hour), 2)):\(pad(Int64(parts.tm_min), 2)):\(pad(Int64(parts.tm_sec), 2))"
        return text + (milliseconds.map { ".\(pad($0, 3))" } ?? "") + "Z"
    }
}
