// swift-tools-version:5.10
// The iOS app's code that is not UIKit, SwiftUI or CoreLocation, with the core's
// generated bindings (which use Swift 5.10's nonisolated(unsafe)). `scripts/test-swift.sh` generates Sources/MailPresence
// and Sources/MailPresenceFFI from the core library, then runs the tests.
import PackageDescription

let package = Package(
    name: "MailPresenceKit",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [
        .library(name: "MailPresenceUI", targets: ["MailPresenceUI"]),
    ],
    targets: [
        .systemLibrary(name: "MailPresenceFFI", path: "Sources/MailPresenceFFI"),
        .target(name: "MailPresence", dependencies: ["MailPresenceFFI"], path: "Sources/MailPresence"),
        .target(name: "MailPresenceUI", dependencies: ["MailPresence"], path: "Sources/MailPresenceUI"),
        .testTarget(name: "MailPresenceUITests", dependencies: ["MailPresenceUI", "MailPresence"], path: "Tests/MailPresenceUITests"),
    ]
)
