/// The integer arithmetic of `${calc:…}` templates: decimal integers, `+ - * / %`, unary minus and parentheses, with
/// the usual precedence; `/` and `%` truncate toward zero. Spaces are ignored.
public enum IntegerArithmetic {
    /// An expression that cannot be evaluated.
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// What is wrong.
        public var description: String
    }

    /// Evaluates `text`.
    ///
    /// - Throws: ``Failure`` for a syntax error, a division by zero or an overflow.
    public static func evaluate(_ text: String) throws(Failure) -> Int64 {
        var parser = Parser(characters: Array(text.unicodeScalars.filter { $0 != " " }), text: text)
        let value = try parser.expression()
        guard parser.position == parser.characters.count else {
            throw Failure(description: "unexpected \"\(parser.rest)\" in \"\(text)\"")
        }
        return value
    }

    private struct Parser {
        let characters: [Unicode.Scalar]
        let text: String
        var position = 0

        init(characters: [Unicode.Scalar], text: String) {
            self.characters = characters
            self.text = text
        }

        var rest: String {
            String(String.UnicodeScalarView(self.characters[self.position...]))
        }

        private var next: Unicode.Scalar? {
            self.position < self.characters.count ? self.characters[self.position] : nil
        }

        mutating func expression() throws(Failure) -> Int64 {
            var value = try self.term()
            while let operation = self.next, operation == "+" || operation == "-" {
                self.position += 1
                let right = try self.term()
                let (result, overflow) =
                    operation == "+" ? value.addingReportingOverflow(right) : value.subtractingReportingOverflow(right)
                guard !overflow else { throw Failure(description: "overflow in \"\(self.text)\"") }
                value = result
            }
            return value
        }

        private mutating func term() throws(Failure) -> Int64 {
            var value = try self.factor()
            while let operation = self.next, operation == "*" || operation == "/" || operation == "%" {
                self.position += 1
                let right = try self.factor()
                if operation == "*" {
                    let (result, overflow) = value.multipliedReportingOverflow(by: right)
                    guard !overflow else { throw Failure(description: "overflow in \"\(self.text)\"") }
                    value = result
                } else {
                    guard right != 0 else { throw Failure(description: "division by zero in \"\(self.text)\"") }
                    let (result, overflow) =
                        operation == "/"
                        ? value.dividedReportingOverflow(by: right)
                        : value.remainderReportingOverflow(dividingBy: right)
                    guard !overflow else { throw Failure(description: "overflow in \"\(self.text)\"") }
                    value = result
                }
            }
            return value
        }

        private mutating func factor() throws(Failure) -> Int64 {
            guard let character = self.next else {
                throw Failure(description: "\"\(self.text)\" ends where a number is expected")
            }
            if character == "-" {
                self.position += 1
                let (result, overflow) = Int64(0).subtractingReportingOverflow(try self.factor())
                guard !overflow else { throw Failure(description: "overflow in \"\(self.text)\"") }
                return result
            }
            if character == "(" {
                self.position += 1
                let value = try self.expression()
                guard self.next == ")" else { throw Failure(description: "missing \")\" in \"\(self.text)\"") }
                self.position += 1
                return value
            }
            var digits = ""
            while let digit = self.next, digit.properties.numericType == .decimal, digit.isASCII {
                digits.unicodeScalars.append(digit)
                self.position += 1
            }
            guard !digits.isEmpty else {
                throw Failure(description: "expected a number at \"\(self.rest)\" in \"\(self.text)\"")
            }
            guard let value = Int64(digits) else { throw Failure(description: "\(digits) is too large") }
            return value
        }
    }
}
