// "Set up with a code": AVFoundation's own QR detection reads the code IT
// printed or showed on the board (or the mailpresence:enrol/… link opens the
// app); the core reads it, the worker sees what the phone will trust, and
// the device key is made in the Keychain before the Enrol mail goes out.
import AVFoundation
import MailPresence
import MailPresenceUI
import Security
import SwiftUI

/// The device key in the Keychain, this device only, after the first unlock.
final class KeychainDeviceKeys: DeviceKeyStorage, @unchecked Sendable {
    private let query: [String: Any] = [kSecClass as String: kSecClassGenericPassword,
                                        kSecAttrService as String: "org.mailpresence.device-key",
                                        kSecAttrAccount as String: "ed25519"]

    func load() -> String? {
        var q = query
        q[kSecReturnData as String] = true
        var out: AnyObject?
        guard SecItemCopyMatching(q as CFDictionary, &out) == errSecSuccess, let data = out as? Data else { return nil }
        return String(data: data, encoding: .utf8)
    }

    func save(key: String) {
        SecItemDelete(query as CFDictionary)
        var add = query
        add[kSecValueData as String] = Data(key.utf8)
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        SecItemAdd(add as CFDictionary, nil)
    }
}

/// The camera preview that reports the first QR code it sees.
struct QRScanner: UIViewControllerRepresentable {
    let found: (String) -> Void

    func makeUIViewController(context: Context) -> ScannerController {
        let c = ScannerController()
        c.found = found
        return c
    }

    func updateUIViewController(_ controller: ScannerController, context: Context) {}

    final class ScannerController: UIViewController, AVCaptureMetadataOutputObjectsDelegate {
        var found: ((String) -> Void)?
        // AVCaptureSession is not marked Sendable, yet Apple has startRunning()
        // called off the main thread (it blocks); the session is only started
        // there and stopped here, as AVFoundation allows.
        nonisolated(unsafe) private let session = AVCaptureSession()

        override func viewDidLoad() {
            super.viewDidLoad()
            guard let camera = AVCaptureDevice.default(for: .video),
                  let input = try? AVCaptureDeviceInput(device: camera), session.canAddInput(input) else { return }
            session.addInput(input)
            let output = AVCaptureMetadataOutput()
            guard session.canAddOutput(output) else { return }
            session.addOutput(output)
            output.setMetadataObjectsDelegate(self, queue: .main)
            output.metadataObjectTypes = [.qr]
            let preview = AVCaptureVideoPreviewLayer(session: session)
            preview.frame = view.bounds
            preview.videoGravity = .resizeAspectFill
            view.layer.addSublayer(preview)
            DispatchQueue.global(qos: .userInitiated).async { self.session.startRunning() }
        }

        // Called on the main queue (setMetadataObjectsDelegate above).
        nonisolated func metadataOutput(_ output: AVCaptureMetadataOutput, didOutput objects: [AVMetadataObject], from connection: AVCaptureConnection) {
            guard let text = (objects.first as? AVMetadataMachineReadableCodeObject)?.stringValue else { return }
            MainActor.assumeIsolated {
                session.stopRunning()
                found?(text)
            }
        }
    }
}

/// Scan, show what will be trusted, confirm, enrol.
struct EnrolView: View {
    @EnvironmentObject var model: AppModel
    @State private var code: EnrolmentCode?
    @State private var message: String?
    @State private var scanning = true

    var body: some View {
        VStack(alignment: .leading) {
            if scanning { QRScanner { read($0) }.frame(height: 320) }
            if let c = code {
                Text("enrol.trust \(c.presenceServer) \(c.serverKeyFingerprint) \(c.imap.host) \(c.smtp.host)")
                if let pin = c.caSha256 { Text("enrol.ca \(pin)") }
                Button("enrol.confirm") { Task { await enrol(c) } }
            }
            if let m = message { Text(m) }
        }
        .padding()
        .onOpenURL { read($0.absoluteString) }
    }

    private func read(_ text: String) {
        do {
            code = try readEnrolmentCode(code: text)
            scanning = false
            message = nil
        } catch let e as PresenceError {
            message = ErrorText.of(e, model.lang)
        } catch {
            message = "\(error)"
        }
    }

    /// Keeps the account, makes the device key, sends the Enrol mail, and
    /// says "enrolled" only after the server's signed answer.
    private func enrol(_ c: EnrolmentCode) async {
        var form = AccountForm.fromEnrolment(c)
        form.password = model.session.form().password
        _ = model.save(form)
        guard let client = model.client else { return }
        do {
            _ = try client.useDeviceKey(storage: KeychainDeviceKeys())
            try await client.enrol(token: c.token, deviceName: UIDevice.current.name)
            message = try await client.enrolled(timeoutSecs: 120)
                ? String(localized: "enrol.done") : String(localized: "enrol.waiting")
        } catch let e as PresenceError {
            message = ErrorText.of(e, model.lang)
        } catch {
            message = "\(error)"
        }
    }
}
