"""fer_audio"""
