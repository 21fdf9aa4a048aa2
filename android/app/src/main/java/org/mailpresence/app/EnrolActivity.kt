// "Set up with a code": the camera scans the QR code IT printed or showed on
// the board (CameraX's preview and image analysis, ML Kit's barcode scanner
// reading QR codes on the phone), or the mailpresence:enrol/… link opens here. The core reads the code; the worker
// sees what the phone is about to trust and confirms; the device key is
// made in the Keystore-backed storage and the Enrol mail goes out.
package org.mailpresence.app

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.lifecycleScope
import android.Manifest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.compose.ui.viewinterop.AndroidView
import androidx.core.content.ContextCompat
import com.google.mlkit.vision.barcode.BarcodeScannerOptions
import com.google.mlkit.vision.barcode.BarcodeScanning
import com.google.mlkit.vision.barcode.common.Barcode
import com.google.mlkit.vision.common.InputImage
import kotlinx.coroutines.launch
import org.mailpresence.EnrolmentCode
import org.mailpresence.PresenceException
import org.mailpresence.readEnrolmentCode
import org.mailpresence.ui.AccountForm
import org.mailpresence.ui.ErrorText
import org.mailpresence.ui.SaveResult

class EnrolActivity : ComponentActivity() {
    private var code by mutableStateOf<EnrolmentCode?>(null)
    private var message by mutableStateOf<String?>(null)

    private var scanning by mutableStateOf(false)

    private val askCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        scanning = granted
    }

    /** Binds the preview and a QR analyser to this activity's lifecycle;
     *  the first code read ends the scan. */
    private fun startCamera(view: PreviewView) {
        val future = ProcessCameraProvider.getInstance(this)
        future.addListener({
            val provider = future.get()
            val preview = Preview.Builder().build().also { it.surfaceProvider = view.surfaceProvider }
            val scanner = BarcodeScanning.getClient(
                BarcodeScannerOptions.Builder().setBarcodeFormats(Barcode.FORMAT_QR_CODE).build(),
            )
            val analysis = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST).build()
            analysis.setAnalyzer(ContextCompat.getMainExecutor(this)) { frame ->
                val image = frame.image
                if (image == null || !scanning) {
                    frame.close()
                    return@setAnalyzer
                }
                scanner.process(InputImage.fromMediaImage(image, frame.imageInfo.rotationDegrees))
                    .addOnSuccessListener { codes ->
                        codes.firstNotNullOfOrNull { it.rawValue }?.let { text ->
                            scanning = false
                            provider.unbindAll()
                            read(text)
                        }
                    }
                    .addOnCompleteListener { frame.close() }
            }
            provider.unbindAll()
            provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, preview, analysis)
        }, ContextCompat.getMainExecutor(this))
    }

    private fun read(text: String) {
        val app = application as PresenceApp
        try {
            code = readEnrolmentCode(text)
            message = null
        } catch (e: PresenceException) {
            message = ErrorText.of(e, app.lang)
        }
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val app = application as PresenceApp
        intent?.data?.toString()?.let(::read)
        setContent {
            MaterialTheme {
                Column(Modifier.padding(16.dp)) {
                    Button(onClick = { askCamera.launch(Manifest.permission.CAMERA) }) { Text(stringResource(R.string.scan_code)) }
                    if (scanning) {
                        AndroidView(factory = { context -> PreviewView(context).also(::startCamera) }, modifier = Modifier.padding(8.dp))
                    }
                    code?.let { c ->
                        // What the phone is about to trust, before it does.
                        Text(stringResource(R.string.enrol_trust, c.presenceServer, c.serverKeyFingerprint, c.imap.host, c.smtp.host))
                        c.caSha256?.let { Text(stringResource(R.string.enrol_ca, it)) }
                        Button(onClick = { enrol(app, c) }) { Text(stringResource(R.string.enrol_confirm)) }
                    }
                    message?.let { Text(it) }
                }
            }
        }
    }

    /** Keeps the account (the password or the sign-in still to come on the
     *  Account screen), makes the device key, sends the Enrol mail and waits
     *  for the server's signed answer before saying "enrolled". */
    private fun enrol(app: PresenceApp, c: EnrolmentCode) = lifecycleScope.launch {
        // Opening the account runs off the main thread (AccountSession).
        val saved = app.session.save(AccountForm.fromEnrolment(c).copy(password = app.session.form().password))
        if (saved != SaveResult.Saved) {
            message = (saved as? SaveResult.Failed)?.message ?: getString(R.string.enrol_finish_account)
            return@launch
        }
        val client = app.client ?: return@launch
        message = try {
            client.useDeviceKey(app.deviceKeys)
            client.enrol(c.token, android.os.Build.MODEL)
            if (client.enrolled(120u)) getString(R.string.enrolled) else getString(R.string.enrol_waiting)
        } catch (e: PresenceException) {
            ErrorText.of(e, app.lang)
        }
    }
}
