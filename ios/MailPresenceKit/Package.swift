// swift-tools-version:6.0
// The iOS app's code that is not UIKit, SwiftUI or CoreLocation, with the core's
// generated bindings. Tools version 6.0: every target is compiled in the Swift 6
// language mode (complete data-race checking), the generated bindings too.
//
// The C module of the core's functions, MailPresenceFFI, is defined once:
// - on Apple platforms by the XCFramework scripts/build-ios.sh puts beside this
//   file (its headers carry the module map, and the library is linked with it);
//   the app gets it through this package and links nothing else of the core;
// - on Linux (scripts/test-swift.sh) by the module map that script writes into
//   Sources/MailPresenceFFI, linking the library built there.
import PackageDescription

#if os(Linux)
let coreFFI = Target.systemLibrary(name: "MailPresenceFFI", path: "Sources/MailPresenceFFI")
#else
let coreFFI = Target.binaryTarget(name: "MailPresenceFFI", path: "MailPresenceFFI.xcframework")
#endif

let package = Package(
    name: "MailPresenceKit",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [
        .library(name: "MailPresenceUI", targets: ["MailPresenceUI"]),
    ],
    targets: [
        coreFFI,
        .target(name: "MailPresence", dependencies: ["MailPresenceFFI"], path: "Sources/MailPresence"),
        .target(name: "MailPresenceUI", dependencies: ["MailPresence"], path: "Sources/MailPresenceUI"),
        .testTarget(name: "MailPresenceUITests", dependencies: ["MailPresenceUI", "MailPresence"], path: "Tests/MailPresenceUITests"),
    ]
)
